// Command tenant-filter is a Sluice consume filter: a reader sees only the
// records whose "tenant" header equals its client id. Records without the
// header are hidden (configure show_untagged=true to show them to all).
// Build:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o tenant-filter.wasm .
package main

import "github.com/sluicemq/sluice/sdk"

func init() {
	header := sdk.ConfigOr("header", "tenant")
	showUntagged := sdk.ConfigOr("show_untagged", "false") == "true"
	sdk.Filter(func(r sdk.Record, reader sdk.Reader) bool {
		tenant, ok := r.Header(header)
		if !ok {
			return showUntagged
		}
		return string(tenant) == reader.ClientID
	})
}

func main() {}
