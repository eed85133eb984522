package main

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

type setting struct{ key, value string }

func parseConfigString(t *testing.T, content string) ([]setting, error) {
	t.Helper()
	var got []setting
	err := parseConfigFile(strings.NewReader(content), func(k, v string) error {
		got = append(got, setting{k, v})
		return nil
	})
	return got, err
}

func TestConfigFileSyntax(t *testing.T) {
	got, err := parseConfigString(t, `
# a comment line

data-dir /var/lib/sluice
kafka-addr = :9092
log_level=debug
--broker-id 3
Log.Format json   # trailing comment
advertised-addr "broker #1:9092" # quoted keeps the hash
max-request-bytes	1000
advertised-addr ""
`)
	if err != nil {
		t.Fatal(err)
	}
	want := []setting{
		{"data-dir", "/var/lib/sluice"},
		{"kafka-addr", ":9092"},
		{"log-level", "debug"},
		{"broker-id", "3"},
		{"log-format", "json"},
		{"advertised-addr", "broker #1:9092"},
		{"max-request-bytes", "1000"},
		{"advertised-addr", ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("settings:\n got %q\nwant %q", got, want)
	}
}

func TestConfigFileErrors(t *testing.T) {
	cases := []struct {
		content  string
		wantLine int
		wantText string
	}{
		{"data-dir /x\nauto-create-topics\n", 2, `"auto-create-topics" has no value`},
		{"data-dir =\n", 1, "data-dir has no value"},
		{"data-dir # only a comment\n", 1, "data-dir has no value"},
		{"= value\n", 1, "missing key"},
		{`data-dir "unterminated` + "\n", 1, "bad quoted value"},
		{`data-dir "/x" junk` + "\n", 1, `unexpected "junk"`},
	}
	for _, tc := range cases {
		_, err := parseConfigString(t, tc.content)
		var le *configLineError
		if !errors.As(err, &le) || le.line != tc.wantLine || !errors.Is(err, ErrConfigSyntax) ||
			!strings.Contains(err.Error(), tc.wantText) {
			t.Errorf("%q: err = %v, want line %d syntax error containing %q", tc.content, err, tc.wantLine, tc.wantText)
		}
	}
}
