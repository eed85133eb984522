package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sort"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// aclCommand is `sluice acl`: Kafka ACL management over the Kafka
// protocol (CreateAcls/DescribeAcls/DeleteAcls), with kafka-acls' flag
// names so scripts carry over.
func (c *cli) aclCommand() *ffcli.Command {
	cmd := &ffcli.Command{
		Name:       "acl",
		ShortUsage: "sluice acl <create|list|delete> [flags]",
		ShortHelp:  "Create, list and delete ACLs (needs --authorizer acl on the broker).",
		FlagSet:    c.newFlagSet("acl"),
		Subcommands: []*ffcli.Command{
			c.aclCreateCommand(),
			c.aclListCommand(),
			c.aclDeleteCommand(),
		},
	}
	cmd.Exec = c.groupExec(cmd)
	return cmd
}

// multiFlag collects a repeatable flag; commas also separate values.
type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*m = append(*m, s)
		}
	}
	return nil
}

// aclFlags are kafka-acls' selection flags.
type aclFlags struct {
	allow, deny    multiFlag
	ops            multiFlag
	topics, groups multiFlag
	txnIDs         multiFlag
	cluster        bool
	pattern        string
	host           string
	defaultPattern string
	defaultOps     []kadm.ACLOperation
}

func (f *aclFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.allow, "allow-principal", "`PRINCIPAL` (User:name, User:*) the ACL allows; repeatable")
	fs.Var(&f.deny, "deny-principal", "`PRINCIPAL` the ACL denies; repeatable")
	fs.Var(&f.ops, "operation", "`OP`: All, Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite; repeatable")
	fs.Var(&f.topics, "topic", "topic `NAME` (or prefix, or *); repeatable")
	fs.Var(&f.groups, "group", "consumer group `NAME` (or prefix, or *); repeatable")
	fs.Var(&f.txnIDs, "transactional-id", "transactional `ID`; repeatable")
	fs.BoolVar(&f.cluster, "cluster", false, "the cluster resource")
	fs.StringVar(&f.pattern, "resource-pattern-type", f.defaultPattern, "literal or prefixed (list/delete also: any, match)")
	fs.StringVar(&f.host, "host", "", "client `IP` the ACL applies to (default * on create, any on list/delete)")
}

func (f *aclFlags) hasResource() bool {
	return len(f.topics) > 0 || len(f.groups) > 0 || len(f.txnIDs) > 0 || f.cluster
}

// builder turns the flags into kadm's ACL builder. create: exact
// bindings; otherwise a filter where what is not given matches anything.
func (f *aclFlags) builder(create bool) (*kadm.ACLBuilder, error) {
	b := kadm.NewACLs()
	pattern, err := kmsg.ParseACLResourcePatternType(f.pattern)
	if err != nil {
		return nil, fmt.Errorf("--resource-pattern-type %q: want literal, prefixed, any or match", f.pattern)
	}
	if create && pattern != kmsg.ACLResourcePatternTypeLiteral && pattern != kmsg.ACLResourcePatternTypePrefixed {
		return nil, fmt.Errorf("--resource-pattern-type %q: ACLs are created literal or prefixed", f.pattern)
	}
	if f.cluster && pattern == kmsg.ACLResourcePatternTypePrefixed {
		return nil, errors.New("--cluster is a literal resource: drop --resource-pattern-type prefixed")
	}
	b.ResourcePatternType(pattern)
	if !f.hasResource() {
		if create {
			return nil, errors.New("name a resource: --topic, --group, --transactional-id or --cluster")
		}
		b.AnyResource()
	} else {
		b.MaybeTopics(f.topics...).MaybeGroups(f.groups...).MaybeTransactionalIDs(f.txnIDs...).MaybeClusters(f.cluster)
	}
	var ops []kadm.ACLOperation
	for _, o := range f.ops {
		op, err := kmsg.ParseACLOperation(o)
		if err != nil || op == kmsg.ACLOperationUnknown || (create && op == kmsg.ACLOperationAny) {
			return nil, fmt.Errorf("--operation %q: unknown operation", o)
		}
		ops = append(ops, op)
	}
	if len(ops) == 0 {
		ops = f.defaultOps
	}
	b.Operations(ops...)
	host := f.host
	switch {
	case create && (len(f.allow)+len(f.deny)) == 0:
		return nil, errors.New("name a principal: --allow-principal or --deny-principal")
	case create && host == "":
		host = "*"
	}
	for _, p := range append(append([]string{}, f.allow...), f.deny...) {
		if i := strings.IndexByte(p, ':'); i <= 0 || i == len(p)-1 {
			return nil, fmt.Errorf("principal %q: want Type:name, e.g. User:alice", p)
		}
	}
	if !create && len(f.allow)+len(f.deny) == 0 {
		// Any principal, either permission.
		b.Allow().Deny()
	} else {
		b.MaybeAllow(f.allow...).MaybeDeny(f.deny...)
	}
	switch {
	case !create && host == "":
		b.AllowHosts().DenyHosts()
	case !create:
		b.AllowHosts(host).DenyHosts(host)
	default:
		// kadm refuses hosts for a side without principals.
		if len(f.allow) > 0 {
			b.AllowHosts(host)
		}
		if len(f.deny) > 0 {
			b.DenyHosts(host)
		}
	}
	return b, nil
}

func (c *cli) aclCreateCommand() *ffcli.Command {
	f := &aclFlags{defaultPattern: "literal", defaultOps: []kadm.ACLOperation{kmsg.ACLOperationAll}}
	return c.adminCommand(adminSpec{
		path:  "acl create",
		usage: "sluice acl create --allow-principal User:alice --operation Read --topic orders [--resource-pattern-type prefixed] [--host IP]",
		help:  "Create ACLs: every principal × operation × resource given (operation defaults to All).",
		flags: f.register,
		run: func(ctx context.Context, adm *kadm.Client, _ []string) error {
			b, err := f.builder(true)
			if err != nil {
				return err
			}
			res, err := adm.CreateACLs(ctx, b)
			if err != nil {
				return fmt.Errorf("create ACLs: %w", err)
			}
			var errs []error
			for _, r := range res {
				if r.Err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", describeResult(r.Type, r.Name, r.Pattern, r.Principal, r.Host, r.Operation, r.Permission), kafkaErr(r.Err, r.ErrMessage)))
					continue
				}
				fmt.Fprintf(c.stdout, "Created %s\n", describeResult(r.Type, r.Name, r.Pattern, r.Principal, r.Host, r.Operation, r.Permission))
			}
			return errors.Join(errs...)
		},
	})
}

func (c *cli) aclListCommand() *ffcli.Command {
	f := &aclFlags{defaultPattern: "any", defaultOps: []kadm.ACLOperation{kmsg.ACLOperationAny}}
	return c.adminCommand(adminSpec{
		path:  "acl list",
		usage: "sluice acl list [--topic NAME] [--group NAME] [--cluster] [--allow-principal P] [--resource-pattern-type any|match|literal|prefixed]",
		help:  "List ACLs, all or those matching the flags (match: every ACL that applies to the named resource).",
		flags: f.register,
		run: func(ctx context.Context, adm *kadm.Client, _ []string) error {
			b, err := f.builder(false)
			if err != nil {
				return err
			}
			res, err := adm.DescribeACLs(ctx, b)
			if err != nil {
				return fmt.Errorf("list ACLs: %w", err)
			}
			seen := map[string]bool{}
			var rows [][]string
			for _, r := range res {
				if r.Err != nil {
					return fmt.Errorf("list ACLs: %w", kafkaErr(r.Err, r.ErrMessage))
				}
				for _, d := range r.Described {
					cells := []string{d.Type.String(), d.Name, strings.ToLower(d.Pattern.String()), d.Principal, d.Host, d.Operation.String(), d.Permission.String()}
					key := strings.Join(cells, "\x00")
					if !seen[key] {
						seen[key] = true
						rows = append(rows, cells)
					}
				}
			}
			if len(rows) == 0 {
				fmt.Fprintln(c.stdout, "No ACLs.")
				return nil
			}
			sort.Slice(rows, func(i, j int) bool { return strings.Join(rows[i], "\x00") < strings.Join(rows[j], "\x00") })
			t := newTable(c.stdout, "RESOURCE-TYPE", "NAME", "PATTERN", "PRINCIPAL", "HOST", "OPERATION", "PERMISSION")
			for _, r := range rows {
				t.row(r...)
			}
			return t.flush()
		},
	})
}

func (c *cli) aclDeleteCommand() *ffcli.Command {
	f := &aclFlags{defaultPattern: "literal", defaultOps: []kadm.ACLOperation{kmsg.ACLOperationAny}}
	return c.adminCommand(adminSpec{
		path:  "acl delete",
		usage: "sluice acl delete --topic orders [--allow-principal User:alice] [--operation Read] [--resource-pattern-type literal|prefixed|any]",
		help:  "Delete the ACLs matching the flags; a resource is required.",
		flags: f.register,
		run: func(ctx context.Context, adm *kadm.Client, _ []string) error {
			if !f.hasResource() {
				return errors.New("name a resource: --topic, --group, --transactional-id or --cluster")
			}
			b, err := f.builder(false)
			if err != nil {
				return err
			}
			res, err := adm.DeleteACLs(ctx, b)
			if err != nil {
				return fmt.Errorf("delete ACLs: %w", err)
			}
			n := 0
			var errs []error
			for _, r := range res {
				if r.Err != nil {
					errs = append(errs, kafkaErr(r.Err, r.ErrMessage))
					continue
				}
				for _, d := range r.Deleted {
					if d.Err != nil {
						errs = append(errs, d.Err)
						continue
					}
					n++
					fmt.Fprintf(c.stdout, "Deleted %s\n", describeResult(d.Type, d.Name, d.Pattern, d.Principal, d.Host, d.Operation, d.Permission))
				}
			}
			if n == 0 && len(errs) == 0 {
				fmt.Fprintln(c.stdout, "No matching ACLs.")
			}
			return errors.Join(errs...)
		},
	})
}

func describeResult(rt kmsg.ACLResourceType, name string, pattern kadm.ACLPattern, principal, host string, op kadm.ACLOperation, perm kmsg.ACLPermissionType) string {
	// kafka-acls' wording.
	return fmt.Sprintf("(principal=%s, host=%s, operation=%s, permissionType=%s) on %s:%s:%s", principal, host, op, perm, rt, pattern, name)
}
