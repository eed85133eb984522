// Command tenant-filter is a Sluice consume filter: a reader sees only the
// records whose "tenant" header equals the name of its authenticated
// principal (User:acme sees tenant "acme"; with principal_prefix=false the
// header must hold the whole principal, "User:acme"). The client id is
// never consulted: any client can claim any client id. Anonymous readers
// (User:ANONYMOUS) see no tagged record. Records without the header are
// hidden (configure show_untagged=true to show them to all).
// Build:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o tenant-filter.wasm .
package main

import (
	"strings"

	"github.com/sluicemq/sluice/sdk"
)

func init() {
	header := sdk.ConfigOr("header", "tenant")
	showUntagged := sdk.ConfigOr("show_untagged", "false") == "true"
	stripType := sdk.ConfigOr("principal_prefix", "true") == "true"
	sdk.Filter(func(r sdk.Record, reader sdk.Reader) bool {
		tenant, ok := r.Header(header)
		if !ok {
			return showUntagged
		}
		p := reader.Principal
		if p == "" || p == "User:ANONYMOUS" {
			return false
		}
		if stripType {
			// "User:acme" → "acme"
			if _, name, found := strings.Cut(p, ":"); found {
				p = name
			}
		}
		return string(tenant) == p
	})
}

func main() {}
