package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ErrConfigSyntax wraps every malformed config file line.
var ErrConfigSyntax = errors.New("config file syntax error")

// configLineError locates a config file problem.
type configLineError struct {
	line int
	err  error
}

func (e *configLineError) Error() string {
	return fmt.Sprintf("config file line %d: %v", e.line, e.err)
}
func (e *configLineError) Unwrap() error { return e.err }

// parseConfigFile reads the `sluice serve --config` format, one setting per
// line:
//
//	# comment
//	data-dir /var/lib/sluice
//	kafka-addr = :9092
//	log_level=debug
//	advertised-addr "broker.example:9092"   # trailing comment
//
// A key is a serve flag name (leading dashes, '_' and '.' in place of '-'
// and upper case are accepted); it is separated from its value by spaces
// and/or one '='. Values may be double-quoted (Go syntax); an unquoted value
// ends at " #". Every key needs a value (write "auto-create-topics false").
func parseConfigFile(r io.Reader, set func(name, value string) error) error {
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, err := splitConfigLine(line)
		if err != nil {
			return &configLineError{line: n, err: err}
		}
		if err := set(key, value); err != nil {
			return &configLineError{line: n, err: err}
		}
	}
	return sc.Err()
}

// splitConfigLine splits a non-empty, non-comment line into a normalized
// flag name and its value.
func splitConfigLine(line string) (key, value string, err error) {
	end := strings.IndexAny(line, " \t=")
	if end < 0 {
		return "", "", fmt.Errorf("%w: %q has no value", ErrConfigSyntax, line)
	}
	key = normalizeConfigKey(line[:end])
	if key == "" {
		return "", "", fmt.Errorf("%w: missing key in %q", ErrConfigSyntax, line)
	}
	rest := strings.TrimSpace(line[end:])
	rest = strings.TrimSpace(strings.TrimPrefix(rest, "="))

	if strings.HasPrefix(rest, `"`) {
		quoted, err := strconv.QuotedPrefix(rest)
		if err != nil {
			return "", "", fmt.Errorf("%w: bad quoted value for %s: %v", ErrConfigSyntax, key, err)
		}
		trailer := strings.TrimSpace(rest[len(quoted):])
		if trailer != "" && !strings.HasPrefix(trailer, "#") {
			return "", "", fmt.Errorf("%w: unexpected %q after value of %s", ErrConfigSyntax, trailer, key)
		}
		value, _ = strconv.Unquote(quoted) // QuotedPrefix validated it
		return key, value, nil
	}

	if strings.HasPrefix(rest, "#") {
		rest = ""
	} else if i := strings.Index(rest, " #"); i >= 0 {
		rest = rest[:i]
	} else if i := strings.Index(rest, "\t#"); i >= 0 {
		rest = rest[:i]
	}
	value = strings.TrimSpace(rest)
	if value == "" {
		return "", "", fmt.Errorf("%w: %s has no value", ErrConfigSyntax, key)
	}
	return key, value, nil
}

// normalizeConfigKey maps "--Data_Dir" or "data.dir" to the flag name "data-dir".
func normalizeConfigKey(k string) string {
	k = strings.TrimLeft(k, "-")
	k = strings.ToLower(k)
	return strings.NewReplacer("_", "-", ".", "-").Replace(k)
}
