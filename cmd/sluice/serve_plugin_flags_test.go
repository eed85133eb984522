package main

import (
	"errors"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/sluicemq/sluice/wasm"
)

func TestServePluginFlags(t *testing.T) {
	clearServeEnv(t)
	s, err := parseServe(t, "--plugin-max-module-bytes", "1000", "--plugin-max-functions", "20",
		"--plugin-compile-timeout", "3s", "--plugin-compile-memory", "4000", "--plugin-memory-budget", "5000",
		"--plugin-log-lines-per-second", "2")
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	want := wasm.Config{MaxModuleBytes: 1000, MaxFunctions: 20, CompileTimeout: 3 * time.Second, CompileMemoryBytes: 4000,
		MemoryBudgetBytes: 5000, LogLinesPerSecond: 2, LogBurst: 10, CompileCommand: []string{exe, "plugin-compile"}}
	if !reflect.DeepEqual(s.plugins, want) {
		t.Errorf("plugins config:\n got %+v\nwant %+v", s.plugins, want)
	}
	d, err := parseServe(t)
	if err != nil {
		t.Fatal(err)
	}
	if d.plugins.MemoryBudgetBytes != 512<<20 || d.plugins.MaxFunctions != 50_000 || d.plugins.CompileMemoryBytes != 1<<30 {
		t.Errorf("defaults: %+v", d.plugins)
	}
	_, err = parseServe(t, "--plugin-memory-budget", "0")
	var ife *invalidFlagError
	if !errors.As(err, &ife) || ife.flag != "plugin-memory-budget" {
		t.Errorf("budget 0: %v", err)
	}
}

func TestServePluginKeepVersions(t *testing.T) {
	clearServeEnv(t)
	d, err := parseServe(t)
	if err != nil || d.node.PluginKeepVersions != 5 {
		t.Fatalf("default: %d %v", d.node.PluginKeepVersions, err)
	}
	s, err := parseServe(t, "--plugin-keep-versions", "2")
	if err != nil || s.node.PluginKeepVersions != 2 {
		t.Fatalf("--plugin-keep-versions 2: %d %v", s.node.PluginKeepVersions, err)
	}
	_, err = parseServe(t, "--plugin-keep-versions", "0")
	var ife *invalidFlagError
	if !errors.As(err, &ife) || ife.flag != "plugin-keep-versions" {
		t.Errorf("keep 0: %v", err)
	}
}
