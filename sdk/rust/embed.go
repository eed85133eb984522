// Package rustsdk carries the Rust SDK's sources (crate sluice-plugin:
// Cargo.toml and src/) into Go binaries: `sluice plugin new --lang rust`
// vendors them into the projects it writes (a package cannot embed files
// above its own directory, so the embedding lives here, beside the crate).
package rustsdk

import "embed"

// Source holds Cargo.toml, README.md and src/*.rs (not target/ nor the
// conformance crates).
//
//go:embed Cargo.toml README.md src/*.rs
var Source embed.FS
