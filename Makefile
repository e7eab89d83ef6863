# The two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
SERVICES := scripts/services.sh
SWIFT ?= swift

.PHONY: all build release test demo bench fuzz model services services-stop services-status deps build-deps install deb image clean

all: build

# What make, the tests and the demo need on this machine (Debian packages, the Python venv).
deps:
	@$(SERVICES) install

# What building concord, its package and its image needs, without the test services (make deb, make image).
build-deps:
	@$(SERVICES) install-build

# Concord itself: make install PREFIX=/usr/local DESTDIR=/tmp/stage (see scripts/install.sh).
PREFIX ?= /usr/local
DESTDIR ?=
install: build-deps
	@scripts/install.sh "$(DESTDIR)" "$(PREFIX)"

# concord_<version>_amd64.deb: a release build with the Swift runtime linked in, lintian-checked (scripts/deb.sh).
deb: build-deps
	@scripts/deb.sh

# concord_<version>_oci/ and concord_<version>_image.tar: an OCI image from Debian 12 minbase and the .deb (scripts/image.sh).
image: build-deps
	@scripts/image.sh

services:
	@$(SERVICES) start

services-stop:
	@$(SERVICES) stop

services-status:
	@$(SERVICES) status

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# Install what is missing, start the services, build, test, stop the services.
# Exits non-zero when anything fails; the services are stopped either way.
test:
	@scripts/test.sh

demo:
	@scripts/demo.sh

# make bench BENCH="realworld --records 100000" runs one bench with its options (default: all).
bench:
	@scripts/bench.sh $(BENCH)

# The protocols model-checked with spin (Models/*.pml): each holds, each mutation is refuted.
model:
	@scripts/model.sh

# Every parser under libFuzzer for FUZZ_SECONDS each (default 60); exits non-zero on a finding.
fuzz:
	@scripts/fuzz.sh

clean:
	rm -rf .build .build-fuzz .build-deb concord_*_amd64.deb concord_*_oci concord_*_image.tar
