// Command allocating is a test transform that allocates a new value per
// record, as most real plugins do, and masks one e-mail address's local
// part the naive way: the garbage it leaves must not grow guest memory.
package main

import (
	"bytes"

	"github.com/sluicemq/sluice/sdk"
)

func init() {
	sdk.Transform(func(r sdk.Record, w sdk.Writer) error {
		at := bytes.IndexByte(r.Value, '@')
		if at < 0 {
			w.Keep()
			return nil
		}
		start := bytes.LastIndexByte(r.Value[:at], '=') + 1
		var out []byte // grows (and is thrown away) record after record
		out = append(out, r.Value[:start]...)
		out = append(out, "***"...)
		out = append(out, r.Value[at:]...)
		r.Value = out
		w.Write(r)
		return nil
	})
}

func main() {}
