//go:build !wasip1

package sdk

// testConfig stands in for the host's configuration when the SDK runs
// natively (its own unit tests).
var testConfig = map[string]string{}

func configGet(key string) (string, bool) {
	v, ok := testConfig[key]
	return v, ok
}
