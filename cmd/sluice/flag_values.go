package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
)

// int32Value is a flag.Value for int32 fields (the flag package has none);
// out-of-range values are rejected rather than truncated.
type int32Value struct{ p *int32 }

func int32Var(fs *flag.FlagSet, p *int32, name string, value int32, usage string) {
	*p = value
	fs.Var(int32Value{p}, name, usage)
}

func (v int32Value) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.FormatInt(int64(*v.p), 10)
}

func (v int32Value) Set(s string) error {
	n, err := strconv.ParseInt(s, 0, 32)
	if err != nil {
		return err
	}
	*v.p = int32(n)
	return nil
}

// keyValue is one KEY=VALUE pair from a repeatable flag.
type keyValue struct {
	key   string
	value string
}

// keyValueList collects repeated `--config KEY=VALUE` flags in order. A key
// given twice is an error: silently keeping one of them would hide a typo.
type keyValueList struct{ pairs []keyValue }

func (l *keyValueList) String() string {
	if l == nil {
		return ""
	}
	parts := make([]string, len(l.pairs))
	for i, kv := range l.pairs {
		parts[i] = kv.key + "=" + kv.value
	}
	return strings.Join(parts, ",")
}

func (l *keyValueList) Set(s string) error {
	key, value, ok := strings.Cut(s, "=")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", s)
	}
	for _, kv := range l.pairs {
		if kv.key == key {
			return fmt.Errorf("config key %q given twice", key)
		}
	}
	l.pairs = append(l.pairs, keyValue{key: key, value: value})
	return nil
}

// stringList collects a repeatable string flag in order.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	if s == "" {
		return fmt.Errorf("empty value")
	}
	*l = append(*l, s)
	return nil
}
