package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/twmb/franz-go/pkg/kadm"
)

// passwordInput is where --password-stdin reads; tests replace it.
var passwordInput io.Reader = os.Stdin

func (c *cli) userCommand() *ffcli.Command {
	cmd := &ffcli.Command{
		Name:       "user",
		ShortUsage: "sluice user <create|list|delete> [flags] [NAME]",
		ShortHelp:  "Manage SCRAM users (DescribeUserScramCredentials / AlterUserScramCredentials).",
		FlagSet:    c.newFlagSet("user"),
		Subcommands: []*ffcli.Command{
			c.userCreateCommand(),
			c.userListCommand(),
			c.userDeleteCommand(),
		},
	}
	cmd.Exec = c.groupExec(cmd)
	return cmd
}

func parseScramMechanism(s string) (kadm.ScramMechanism, error) {
	switch strings.ToUpper(s) {
	case "SCRAM-SHA-512":
		return kadm.ScramSha512, nil
	case "SCRAM-SHA-256":
		return kadm.ScramSha256, nil
	}
	return 0, fmt.Errorf("--mechanism %q: want SCRAM-SHA-512 or SCRAM-SHA-256", s)
}

func (c *cli) userCreateCommand() *ffcli.Command {
	var (
		mechanism  string
		iterations int
		fromStdin  bool
	)
	return c.adminCommand(adminSpec{
		path:  "user create",
		usage: "sluice user create NAME [--mechanism SCRAM-SHA-512] [--iterations 8192] --password-stdin",
		help:  "Create a user, or set its password, for one SCRAM mechanism.",
		args:  []string{"NAME"},
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&mechanism, "mechanism", "SCRAM-SHA-512", "SCRAM-SHA-512 or SCRAM-SHA-256")
			fs.IntVar(&iterations, "iterations", 8192, "PBKDF2 iterations, 4096 to 16384")
			fs.BoolVar(&fromStdin, "password-stdin", false, "read the new password from the first line of stdin (required: passwords never go on the command line)")
		},
		run: func(ctx context.Context, adm *kadm.Client, args []string) error {
			mech, err := parseScramMechanism(mechanism)
			if err != nil {
				return err
			}
			if !fromStdin {
				return errors.New("user create: --password-stdin is required")
			}
			line, err := bufio.NewReader(passwordInput).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("read password: %w", err)
			}
			pass := strings.TrimRight(line, "\r\n")
			if pass == "" {
				return errors.New("user create: empty password on stdin")
			}
			res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: args[0], Mechanism: mech, Iterations: int32(iterations), Password: pass}})
			if err != nil {
				return fmt.Errorf("user create: %w", err)
			}
			if r := res[args[0]]; r.Err != nil {
				return fmt.Errorf("user create %s: %w", args[0], kafkaErr(r.Err, r.ErrMessage))
			}
			fmt.Fprintf(c.stdout, "User %q: %s credential set.\n", args[0], mech)
			return nil
		},
	})
}

func (c *cli) userListCommand() *ffcli.Command {
	return c.adminCommand(adminSpec{
		path:  "user list",
		usage: "sluice user list",
		help:  "List users and their SCRAM mechanisms.",
		run: func(ctx context.Context, adm *kadm.Client, _ []string) error {
			users, err := adm.DescribeUserSCRAMs(ctx)
			if err != nil {
				return fmt.Errorf("user list: %w", err)
			}
			if len(users) == 0 {
				fmt.Fprintln(c.stdout, "No users.")
				return nil
			}
			names := make([]string, 0, len(users))
			for n := range users {
				names = append(names, n)
			}
			sort.Strings(names)
			t := newTable(c.stdout, "USER", "MECHANISM", "ITERATIONS")
			for _, n := range names {
				u := users[n]
				if u.Err != nil {
					t.row(n, "-", "error: "+u.Err.Error())
					continue
				}
				for _, ci := range u.CredInfos {
					t.row(n, ci.Mechanism.String(), fmt.Sprint(ci.Iterations))
				}
			}
			return t.flush()
		},
	})
}

func (c *cli) userDeleteCommand() *ffcli.Command {
	var mechanism string
	return c.adminCommand(adminSpec{
		path:  "user delete",
		usage: "sluice user delete NAME [--mechanism SCRAM-SHA-512]",
		help:  "Delete a user's credentials (every mechanism unless --mechanism).",
		args:  []string{"NAME"},
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&mechanism, "mechanism", "", "delete only this mechanism's credential")
		},
		run: func(ctx context.Context, adm *kadm.Client, args []string) error {
			name := args[0]
			var mechs []kadm.ScramMechanism
			if mechanism != "" {
				m, err := parseScramMechanism(mechanism)
				if err != nil {
					return err
				}
				mechs = append(mechs, m)
			} else {
				users, err := adm.DescribeUserSCRAMs(ctx, name)
				if err != nil {
					return fmt.Errorf("user delete: %w", err)
				}
				u := users[name]
				if u.Err != nil {
					return fmt.Errorf("user delete %s: %w", name, kafkaErr(u.Err, u.ErrMessage))
				}
				for _, ci := range u.CredInfos {
					mechs = append(mechs, ci.Mechanism)
				}
			}
			// One request per mechanism: Kafka refuses a user twice in
			// one request.
			for _, m := range mechs {
				res, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: name, Mechanism: m}}, nil)
				if err != nil {
					return fmt.Errorf("user delete: %w", err)
				}
				if r := res[name]; r.Err != nil {
					return fmt.Errorf("user delete %s %s: %w", name, m, kafkaErr(r.Err, r.ErrMessage))
				}
			}
			fmt.Fprintf(c.stdout, "User %q deleted.\n", name)
			return nil
		},
	})
}
