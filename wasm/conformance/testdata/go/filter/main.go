// Command filter is the Go SDK's conformance filter
// (wasm/conformance/README.md): it hides records with a "hide" header or
// another reader's "tenant" and masks key "mask".
package main

import "github.com/sluicemq/sluice/sdk"

func init() {
	sdk.FilterMap(func(r sdk.Record, reader sdk.Reader) (sdk.Record, bool) {
		if _, ok := r.Header("hide"); ok {
			return r, false
		}
		if reader.Principal != "" {
			if t, ok := r.Header("tenant"); ok && (t == nil || string(t) != reader.Principal) {
				return r, false
			}
		}
		if string(r.Key) == "mask" && r.Key != nil {
			r.Value = []byte("***")
		}
		return r, true
	})
}

func main() {}
