// Command drop-bots is a Sluice produce transform that drops bot traffic:
// records whose user agent (the "user-agent" header, or else the
// "user_agent" field of a JSON value) contains one of the configured
// patterns, case-insensitively. Build:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o drop-bots.wasm .
//
// Configuration: patterns, comma-separated (default
// "bot,crawler,spider,slurp,headlesschrome").
package main

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/sluicemq/sluice/sdk"
)

func init() {
	var patterns [][]byte
	for _, p := range strings.Split(sdk.ConfigOr("patterns", "bot,crawler,spider,slurp,headlesschrome"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			patterns = append(patterns, []byte(strings.ToLower(p)))
		}
	}
	sdk.Transform(func(r sdk.Record, w sdk.Writer) error {
		if !isBot(userAgent(r), patterns) {
			w.Keep()
		}
		return nil
	})
}

func userAgent(r sdk.Record) []byte {
	for _, h := range r.Headers {
		if strings.EqualFold(h.Key, "user-agent") {
			return h.Value
		}
	}
	var event struct {
		UserAgent string `json:"user_agent"`
	}
	if json.Unmarshal(r.Value, &event) == nil {
		return []byte(event.UserAgent)
	}
	return nil
}

func isBot(ua []byte, patterns [][]byte) bool {
	ua = bytes.ToLower(ua)
	for _, p := range patterns {
		if bytes.Contains(ua, p) {
			return true
		}
	}
	return false
}

func main() {}
