// Command transform is the Go SDK's conformance transform
// (wasm/conformance/README.md): the record's key says what to do with it.
package main

import "github.com/sluicemq/sluice/sdk"

func init() {
	emitTopic := sdk.ConfigOr("emit_topic", "conformance-emits")
	sdk.Transform(func(r sdk.Record, w sdk.Writer) error {
		if r.Key == nil {
			w.Keep()
			return nil
		}
		switch string(r.Key) {
		case "drop":
		case "dup":
			w.Keep()
			dup := r
			dup.Key = []byte("dup-copy")
			w.Write(dup)
		case "upper":
			up := r
			if r.Value != nil {
				up.Value = asciiUpper(r.Value)
			}
			up.Headers = append(append([]sdk.Header(nil), r.Headers...), sdk.Header{Key: "x-upper", Value: []byte("1")})
			w.Write(up)
		case "emit":
			w.Keep()
			w.Emit(emitTopic, r)
		case "reject":
			return sdk.Reject("reject")
		case "policy":
			return sdk.Policy("policy")
		case "panic":
			panic("panic")
		default:
			w.Keep()
		}
		return nil
	})
}

// asciiUpper upper-cases ASCII letters only (bytes.ToUpper would also map
// UTF-8 letters, which the spec leaves alone).
func asciiUpper(v []byte) []byte {
	out := make([]byte, len(v))
	for i, c := range v {
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		out[i] = c
	}
	return out
}

func main() {}
