package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/peterbourgon/ff/v3/ffcli"
)

// version is set at link time (-ldflags "-X main.version=v1.2.3"); otherwise
// the module version and VCS stamp recorded by `go build` are used.
var version = ""

func (c *cli) versionCommand() *ffcli.Command {
	cmd := &ffcli.Command{
		Name:       "version",
		ShortUsage: "sluice version",
		ShortHelp:  "Print the version and build information.",
		FlagSet:    c.newFlagSet("version"),
	}
	cmd.Exec = func(_ context.Context, args []string) error {
		if len(args) > 0 {
			return newUsageError(cmd, "version: unexpected argument %q", args[0])
		}
		fmt.Fprintln(c.stdout, versionString())
		return nil
	}
	return cmd
}

// versionString is "sluice VERSION (commit REV[, modified]) GOVERSION OS/ARCH".
func versionString() string {
	v, commit, modified := version, "", false
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	s := "sluice " + v
	if commit != "" {
		if len(commit) > 12 {
			commit = commit[:12]
		}
		if modified {
			commit += ", modified"
		}
		s += " (commit " + commit + ")"
	}
	return fmt.Sprintf("%s %s %s/%s", s, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
