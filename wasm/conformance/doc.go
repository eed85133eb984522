// Package conformance holds the ABI conformance suite of Sluice's plugin
// SDKs: its test loads every SDK's conformance modules through the
// broker's runtime (package wasm, deploy-time probe included) and runs one
// table of cases against each, so the batch ABI cannot drift between
// languages. README.md is the specification the modules implement;
// plugbuild builds them from source.
package conformance
