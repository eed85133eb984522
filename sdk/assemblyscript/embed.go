// Package assdk carries the AssemblyScript SDK's sources (npm package
// @sluicemq/plugin-sdk) into Go binaries: `sluice plugin new --lang
// assemblyscript` vendors them into the projects it writes (a package
// cannot embed files above its own directory, so the embedding lives
// here, beside the package).
package assdk

import "embed"

// Source holds the package's files as npm would publish them
// (package.json's "files", plus package.json), not node_modules/.
//
//go:embed package.json index.ts asconfig.json README.md assembly/*.ts
var Source embed.FS
