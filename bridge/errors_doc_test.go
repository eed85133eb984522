package bridge

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestErrorCodesDocumented: every error code the bridge answers has a row
// in docs/http-api.md's table under the HTTP status it is answered with,
// so the table stays the one reference clients switch on.
func TestErrorCodesDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/http-api.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "| ") {
			rows = append(rows, line)
		}
	}
	for code, status := range map[int]int{
		codeUnauthorized: 401, codeForbidden: 403, codeOriginForbidden: 403, codeNotFound: 404,
		codeTopicNotFound: 404, codePartitionNotFound: 404, codeConsumerNotFound: 404,
		codeMethodNotAllowed: 405, codeNotAcceptable: 406, codeRequestTimeout: 408,
		codeConsumerExists: 409, codeNoSubscription: 409, codeBodyTooLarge: 413,
		codeUnsupportedMedia: 415, codeUnprocessable: 422, codeRateLimited: 429,
		codeProducerOverloaded: 429, codeInternal: 500, codeKafkaRetriable: 503,
		codeTooManyStreams: 503, codePluginRefused: 422, codePluginFailed: 502,
	} {
		prefix := fmt.Sprintf("| %d | ", status)
		found := false
		for _, r := range rows {
			if strings.HasPrefix(r, prefix) && strings.Contains(r, fmt.Sprint(code)) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("error code %d has no row %q… in docs/http-api.md", code, prefix)
		}
	}
}
