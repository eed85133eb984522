// Command json-dlq is a Sluice produce transform that validates JSON:
// valid records are appended as produced; invalid ones are routed to a
// dead-letter topic with headers saying why and where they came from.
// Build:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o json-dlq.wasm .
//
// Configuration:
//   - dlq: the dead-letter topic (default "<topic>.dlq")
//   - mode: "route" (default) or "reject", which instead fails the whole
//     produce with INVALID_RECORD.
package main

import (
	"encoding/json"
	"strconv"

	"github.com/sluicemq/sluice/sdk"
)

func init() {
	dlq, _ := sdk.Config("dlq")
	reject := sdk.ConfigOr("mode", "route") == "reject"
	sdk.Transform(func(r sdk.Record, w sdk.Writer) error {
		if json.Valid(r.Value) {
			w.Keep()
			return nil
		}
		if reject {
			return sdk.Reject("value is not valid JSON")
		}
		topic := dlq
		if topic == "" {
			topic = sdk.Topic() + ".dlq"
		}
		r.Headers = append(r.Headers,
			sdk.Header{Key: "dlq-reason", Value: []byte("invalid JSON")},
			sdk.Header{Key: "dlq-source-topic", Value: []byte(sdk.Topic())},
			sdk.Header{Key: "dlq-source-partition", Value: []byte(strconv.Itoa(int(sdk.Partition())))},
		)
		w.Emit(topic, r)
		return nil
	})
}

func main() {}
