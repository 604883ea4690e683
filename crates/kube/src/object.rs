//! One Kubernetes object, a bundle of them, and how they are written out.

use serde_json::{Map, Value};

use crate::KubeError;

/// One Kubernetes object: its identity, and the whole document as JSON in the order it is
/// written (`apiVersion`, `kind`, `metadata`, then the rest as built).
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    kind: String,
    name: String,
    namespace: Option<String>,
    doc: Value,
}

/// The `metadata` of an object.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, for namespaced kinds.
    pub namespace: Option<String>,
    /// `metadata.labels`, in this order.
    pub labels: Vec<(String, String)>,
    /// `metadata.annotations`, in this order.
    pub annotations: Vec<(String, String)>,
}

impl Meta {
    /// A cluster-scoped object's metadata with brickyard's common labels.
    pub fn cluster(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            namespace: None,
            labels: common_labels(),
            annotations: Vec::new(),
        }
    }

    /// A namespaced object's metadata with brickyard's common labels.
    pub fn namespaced(name: &str, namespace: &str) -> Self {
        Self {
            namespace: Some(namespace.to_owned()),
            ..Self::cluster(name)
        }
    }

    /// Adds a label after the common ones.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Adds an annotation.
    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.annotations.push((key.to_owned(), value.to_owned()));
        self
    }

    fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), Value::String(self.name.clone()));
        if let Some(ns) = &self.namespace {
            m.insert("namespace".into(), Value::String(ns.clone()));
        }
        if !self.labels.is_empty() {
            m.insert("labels".into(), pairs(&self.labels));
        }
        if !self.annotations.is_empty() {
            m.insert("annotations".into(), pairs(&self.annotations));
        }
        Value::Object(m)
    }
}

/// The labels every brickyard object carries.
pub(crate) fn common_labels() -> Vec<(String, String)> {
    [crate::PART_OF, crate::MANAGED_BY]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A JSON object from ordered string pairs.
pub(crate) fn pairs(items: &[(String, String)]) -> Value {
    Value::Object(
        items
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

impl Object {
    /// Builds an object from its type, metadata and the remaining top-level fields (`spec`,
    /// `data`, ...). `rest` must be a JSON object; anything else is ignored, which only a
    /// mistake in this crate could cause and the schema tests would catch.
    pub fn new(api_version: &str, kind: &str, meta: Meta, rest: Value) -> Self {
        let mut doc = Map::new();
        doc.insert("apiVersion".into(), Value::String(api_version.to_owned()));
        doc.insert("kind".into(), Value::String(kind.to_owned()));
        doc.insert("metadata".into(), meta.to_value());
        if let Value::Object(rest) = rest {
            doc.extend(rest);
        }
        Self {
            kind: kind.to_owned(),
            name: meta.name,
            namespace: meta.namespace,
            doc: Value::Object(doc),
        }
    }

    /// The object's kind, e.g. `PersistentVolume`.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `metadata.namespace`, for namespaced objects.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The whole document.
    pub fn doc(&self) -> &Value {
        &self.doc
    }

    /// The whole document, to change it (tests break objects on purpose this way).
    pub fn doc_mut(&mut self) -> &mut Value {
        &mut self.doc
    }

    /// `kind/name`, as kubectl prints it.
    pub fn id(&self) -> String {
        format!("{}/{}", self.kind.to_ascii_lowercase(), self.name)
    }

    /// The document as YAML, without a document marker.
    pub fn to_yaml(&self) -> Result<String, KubeError> {
        let mut options = serde_saphyr::SerializerOptions::default();
        options.indent_step = 2;
        // kubectl's layout: a list's dashes line up with its key.
        options.compact_list_indent = true;
        serde_saphyr::to_string_with_options(&self.doc, options).map_err(|e| KubeError::Render {
            object: self.id(),
            reason: e.to_string(),
        })
    }
}

/// The objects of one command, in the order they are applied: namespaces and accounts before
/// what uses them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bundle {
    /// The objects, in order.
    pub objects: Vec<Object>,
    /// Remarks for the person running the command (printed on stderr, not part of the
    /// output): what was assumed or not checked.
    pub notes: Vec<String>,
}

impl Bundle {
    /// The objects of a kind, in order.
    pub fn of_kind<'a>(&'a self, kind: &str) -> impl Iterator<Item = &'a Object> + use<'a> {
        let kind = kind.to_owned();
        self.objects.iter().filter(move |o| o.kind() == kind)
    }

    /// One YAML stream: every document starts with `---`, so streams can be concatenated.
    pub fn to_yaml_stream(&self) -> Result<String, KubeError> {
        let mut out = String::new();
        for o in &self.objects {
            out.push_str("---\n");
            out.push_str(&o.to_yaml()?);
        }
        Ok(out)
    }

    /// One file per object: `NN-kind-name.yaml` and its content, numbered in apply order so
    /// that `kubectl apply -f DIR` (which sorts by name) creates them in that order.
    pub fn to_files(&self) -> Result<Vec<(String, String)>, KubeError> {
        let width = self
            .objects
            .len()
            .saturating_sub(1)
            .to_string()
            .len()
            .max(2);
        self.objects
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let name = format!(
                    "{i:0width$}-{}-{}.yaml",
                    o.kind().to_ascii_lowercase(),
                    o.name()
                );
                Ok((name, format!("---\n{}", o.to_yaml()?)))
            })
            .collect()
    }
}
