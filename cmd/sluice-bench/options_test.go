package main

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestParseOptionsDefaults(t *testing.T) {
	opts, err := parseOptions(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if opts.quick || opts.only != "" || opts.sluicePath != "bin/sluice" || opts.repeat != 5 {
		t.Fatalf("defaults = %+v", opts)
	}
	if want := []string{"1k", "100b", "bridge", "replication", "plugins", "tls", "fetchsessions", "txn"}; !slices.Equal(opts.workloads, want) {
		t.Fatalf("workloads = %q, want %q", opts.workloads, want)
	}
	if want := []string{"kfake", "sluice"}; !slices.Equal(opts.brokers(), want) {
		t.Fatalf("brokers = %q, want %q", opts.brokers(), want)
	}
}

func TestParseOptionsSelections(t *testing.T) {
	opts, err := parseOptions([]string{"-quick", "-only", "sluice", "-workload", "100b,1k,100b", "-sluice", "/x/sluice"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !opts.quick || opts.sluicePath != "/x/sluice" {
		t.Fatalf("opts = %+v", opts)
	}
	if want := []string{"sluice"}; !slices.Equal(opts.brokers(), want) {
		t.Fatalf("brokers = %q, want %q", opts.brokers(), want)
	}
	if want := []string{"100b", "1k"}; !slices.Equal(opts.workloads, want) {
		t.Fatalf("workloads = %q, want %q (deduplicated, in the order given)", opts.workloads, want)
	}
}

func TestParseOptionsRejectsBadValues(t *testing.T) {
	for _, args := range [][]string{
		{"-only", "kafka"},
		{"-repeat", "0"},
		{"-workload", "1k,10mb"},
		{"-nope"},
		{"stray"},
	} {
		if _, err := parseOptions(args, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("%q: err = %v, want errUsage", args, err)
		}
	}
}

func TestRunExitsTwoOnUsageError(t *testing.T) {
	if code := run([]string{"-only", "kafka"}, io.Discard, io.Discard); code != 2 {
		t.Fatalf("exit code = %d, want 2", code)
	}
}

func TestCheckSluiceBinary(t *testing.T) {
	if err := checkSluiceBinary(t.TempDir() + "/missing"); err == nil {
		t.Fatal("missing binary accepted")
	}
	if err := checkSluiceBinary(t.TempDir()); err == nil {
		t.Fatal("directory accepted as binary")
	}
	if err := checkSluiceBinary("/bin/true"); err != nil {
		t.Fatalf("/bin/true rejected: %v", err)
	}
}

func TestHelpListsScenariosAndHidesTheChildFlag(t *testing.T) {
	var stderr bytes.Buffer
	if code := run([]string{"-h"}, io.Discard, &stderr); code != 0 {
		t.Fatalf("exit code = %d, want 0", code)
	}
	help := stderr.String()
	if strings.Contains(help, serveKfakeFlag) {
		t.Errorf("help shows the internal -%s flag:\n%s", serveKfakeFlag, help)
	}
	for _, want := range []string{"-workload", "-only", "-quick", "-sluice", "  1k     512,000 x 1024 B", "  100b   2,000,000 x 100 B"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}
}
