# brickyard: two commands do all the set-up on a fresh Debian 12 machine.
#   make demo   - install what is missing, build, and run the walk-through
#   make test   - install what is missing, build, and run every check and test
# and two more:
#   make image        - the node agent's OCI image, localhost/brickyard:<version> (podman)
#   make fresh-check  - prove the two commands on a fresh Debian 12 root file system
# Both must run as root: they install Debian packages, and the tests create network
# namespaces, loop devices and mounts (all removed afterwards).

SHELL := /bin/bash
CARGO ?= cargo

# Debian packages brickyard drives or builds with; podman (with runc, as crun fails on some
# cgroup layouts) and debootstrap build and run the node agent's image.
APT_PACKAGES := glusterfs-server glusterfs-client etcd-server etcd-client xfsprogs \
	iproute2 util-linux lvm2 protobuf-compiler libprotobuf-dev pkg-config procps psmisc python3-pip \
	podman runc debootstrap faketime
# Kubernetes' own schemas, for checking the generated manifests; an OpenAPI validator for
# the REST API's document.
PIP_PACKAGES := kubernetes-validate==1.37.0 openapi-spec-validator==0.7.2

.PHONY: chaos all deps build demo test lint unit image fresh-check clean

all: build

deps:
	@missing=""; for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@# Debian starts glusterd and etcd as services on install; brickyard runs its own.
	@-systemctl disable --now glusterd etcd >/dev/null 2>&1 || true
	@# Debian's own python3 refuses system-wide pip installs (PEP 668) unless told.
	@{ command -v kubernetes-validate >/dev/null && python3 -c 'import openapi_spec_validator' 2>/dev/null; } \
		|| python3 -m pip install --quiet $(PIP_PACKAGES) 2>/dev/null \
		|| python3 -m pip install --quiet --break-system-packages $(PIP_PACKAGES)
	@command -v $(CARGO) >/dev/null || { echo "error: cargo not found; install the Rust toolchain (https://rustup.rs) and run again" >&2; exit 1; }

build: deps
	$(CARGO) build --workspace --all-targets

demo: build
	./scripts/demo.sh

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit: deps
	$(CARGO) test --workspace --lib --bins

test: build lint
	$(CARGO) test --workspace --no-fail-fast

# The fault suite in full: 30 s outages on a real 3-host lab, every acknowledged write checked
# byte for byte, recovery timed; writes docs/reliability.md. `make test` runs it with short
# outages.
chaos: build
	BRICKYARD_CHAOS=full $(CARGO) test -p brickyard --test chaos -- --nocapture

# The node agent's image: Debian 12's gluster packages and the release binary, from a base
# made with debootstrap (no registry is reachable to pull one). See scripts/image.sh.
image: deps
	$(CARGO) build --release -p brickyard
	./scripts/image.sh --binary target/release/brickyard

# README's set-up from nothing: a debootstrap'd Debian 12 root (cached) entered with unshare
# and pivot_root, both from util-linux: no daemon and nothing to install, and the kernel
# removes every mount and process the check made when it ends, also when it fails. There it
# runs `make demo` to its end and the build and unit tests of `make test`. A package missing
# from APT_PACKAGES fails it. See scripts/fresh-check.sh.
fresh-check:
	./scripts/fresh-check.sh

clean:
	$(CARGO) clean
