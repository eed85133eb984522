// Command honestfilter is a Go SDK consume filter for the tests of the
// error consumers get from a failing filter (bridge/honest_test.go): it
// panics on a record whose value starts with "panic" and shows the rest.
package main

import (
	"strings"

	"github.com/sluicemq/sluice/sdk"
)

func init() {
	sdk.Filter(func(r sdk.Record, _ sdk.Reader) bool {
		if strings.HasPrefix(string(r.Value), "panic") {
			panic("bad record " + string(r.Value))
		}
		return true
	})
}

func main() {}
