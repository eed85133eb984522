// Command honest is a Go SDK transform for the tests of what producers
// are told when a transform drops, splits or merges records, refuses them
// or fails (bridge/honest_test.go). By record value:
//
//	…drop…   dropped (JSON events and documents too: {"w":"drop"})
//	split…   stored as two records, value+"#1" and value+"#2"
//	merge…   held back; the record "merge-end…" stores all of them,
//	         itself included, as one record joining their values with "+"
//	reject…  sdk.Reject (INVALID_RECORD)
//	policy…  sdk.Policy (POLICY_VIOLATION)
//	panic…   panics (a plugin failure with a stack trace in the log)
//	emit:T   kept, and emitted to topic T
//	else     kept
package main

import (
	"strings"

	"github.com/sluicemq/sluice/sdk"
)

// merging holds the values of "merge" records of the batch being
// transformed, until its "merge-end" record.
var merging []string

func init() {
	sdk.Transform(func(r sdk.Record, w sdk.Writer) error {
		v := string(r.Value)
		switch {
		case strings.Contains(v, "drop"):
		case strings.HasPrefix(v, "split"):
			for _, part := range []string{"#1", "#2"} {
				out := r
				out.Value = []byte(v + part)
				w.Write(out)
			}
		case strings.HasPrefix(v, "merge-end"):
			merging = append(merging, v)
			out := r
			out.Value = []byte(strings.Join(merging, "+"))
			merging = merging[:0]
			w.Write(out)
		case strings.HasPrefix(v, "merge"):
			merging = append(merging, v)
		case strings.HasPrefix(v, "reject"):
			return sdk.Reject("no %s here", v)
		case strings.HasPrefix(v, "policy"):
			return sdk.Policy("tenant quota exceeded for %s", v)
		case strings.HasPrefix(v, "emit:"):
			w.Keep()
			w.Emit(strings.TrimPrefix(v, "emit:"), r)
		case strings.HasPrefix(v, "panic"):
			panic("bad record " + v)
		default:
			w.Keep()
		}
		return nil
	})
}

func main() {}
