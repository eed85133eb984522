// Command example is a minimal producer using a Sluice partitioner plugin
// on the client: each line of stdin becomes a record (key = the text
// before the first tab, if any) partitioned by the .wasm, exactly as the
// broker would partition it. Its binary size is what kgowasm adds to a
// franz-go program (see TestClientDependencies).
//
//	go run ./plugins/kgowasm/example -brokers 127.0.0.1:9092 -topic pageviews -wasm pageview-partitioner.wasm
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/plugins/kgowasm"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "comma-separated seed brokers")
	topic := flag.String("topic", "", "topic to produce to")
	wasmPath := flag.String("wasm", "", "partitioner plugin (.wasm), the file deployed to the broker")
	var config []string
	flag.Func("config", "plugin configuration key=value, as at deploy (repeatable)", func(s string) error {
		config = append(config, s)
		return nil
	})
	flag.Parse()
	if err := run(*brokers, *topic, *wasmPath, config); err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

func run(brokers, topic, wasmPath string, config []string) error {
	cfg := map[string]string{}
	for _, kv := range config {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("config %q: want key=value", kv)
		}
		cfg[k] = v
	}
	p, err := kgowasm.Open(wasmPath, kgowasm.Options{Config: cfg})
	if err != nil {
		return err
	}
	defer p.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(p))
	if err != nil {
		return err
	}
	defer cl.Close()
	sc := bufio.NewScanner(os.Stdin)
	var recs []*kgo.Record
	for sc.Scan() {
		line := bytes.Clone(sc.Bytes())
		r := &kgo.Record{Value: line}
		if k, v, ok := bytes.Cut(line, []byte("\t")); ok {
			r.Key, r.Value = k, v
		}
		recs = append(recs, r)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return cl.ProduceSync(context.Background(), recs...).FirstErr()
}
