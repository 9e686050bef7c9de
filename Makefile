# AIS Chatrooms — the two commands a newcomer needs are `make run` and `make test`.
# Each does its own set-up first (scripts/setup.sh), skipping what is already installed.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := run

export PATH := $(CURDIR)/.tools/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

.PHONY: run build test test-rust test-wasm test-contract test-e2e audit setup-build setup-test bench lint lint-infra lint-deps clean

## run: build the release app and serve it on http://127.0.0.1:3000 (embedded SQLite, no API key needed)
run: setup-build
	rm -rf target/site/pkg  # the bundle's content-hashed files are rebuilt, not piled up
	cargo leptos serve --release

## build: release build of the server and the browser bundle, without serving
build: setup-build
	scripts/build-site.sh

## test: every test — Rust on SQLite and PostgreSQL, the wasm build, and the browser suite
test: setup-test audit test-rust test-wasm lint-infra test-contract test-e2e

setup-build:
	@scripts/setup.sh build

setup-test:
	@scripts/setup.sh test

test-rust:
	scripts/with-postgres.sh scripts/with-redis.sh timeout 45m cargo test --locked

# The browser bundle must never pull in server crates, and must stay within 400 KB gzipped.
test-wasm:
	scripts/check-wasm-deps.sh
	scripts/build-site.sh
	scripts/bundle-size.sh

# The REST API against its OpenAPI document (GET /api/openapi.json): schemathesis over every
# operation of the release server, time-bounded (CONTRACT_SECONDS, default 120).
test-contract:
	scripts/contract-test.sh

# The browser suite's server talks to a fake Telegram Bot API (a debug build is enough).
test-e2e:
	cargo build --locked -p fake-telegram
	cd end2end && npx playwright test

## audit: the control plane never executes anything: no process or dynamic-loading code
# Line by line first (quick), then clippy, the dependency graph and the linked binary's imports.
audit:
	scripts/audit-gateway.sh gateway
	scripts/audit-gateway.sh app/src/control_plane
	scripts/audit-gateway.sh telegram
	scripts/audit-gateway.sh app/src/telegram
	scripts/audit-gateway-build.sh all

## bench: the performance figures — rooms, live fan-out, rendering, auto mode, control plane, bundle size
bench: setup-test build
	cargo build --release --locked -p bench
	ulimit -n $$(ulimit -Hn); scripts/with-postgres.sh scripts/with-redis.sh target/release/bench all
	cargo bench --locked -p gateway --bench gateway_bench
	scripts/bundle-size.sh

lint:
	cargo fmt --all --check
	cargo clippy --locked --all-targets -- -D warnings
	cargo clippy --locked -p frontend --target wasm32-unknown-unknown -- -D warnings

## lint-infra: checkov over terraform/, the Dockerfile and CI; docker-compose.yml against the Compose schema;
# nginx -t and nginx live in front of the server (after the build in `make test`, so it uses the release server)
lint-infra:
	scripts/lint-infra.sh

## lint-deps: Cargo.lock against the RustSec advisory database (offline copy in security/advisory-db)
lint-deps:
	scripts/check-advisories.sh

clean:
	cargo clean
	rm -rf .tools end2end/node_modules
