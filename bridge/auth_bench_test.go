package bridge_test

import (
	"testing"

	"github.com/sluicemq/sluice/bridge"
	"github.com/sluicemq/sluice/core/auth"
)

// BenchmarkGrantAuthorizer: the config-grant adapter in front of the
// authorizer, on a denied check that falls through to the base (the
// worst case: every token of the principal is tried).
func BenchmarkGrantAuthorizer(b *testing.B) {
	g := bridge.NewGrantAuthorizer([]bridge.Token{
		{Name: "svc", Secret: "a", Topics: []string{"logs-*", "orders", "payments"}, Operations: []string{"produce"}},
		{Name: "other", Secret: "b", Topics: []string{"*"}, Operations: []string{"consume"}},
	}, []string{"web"}, auth.AllowAll{})
	id := auth.Identity{Principal: auth.User("svc"), Host: "10.0.0.1"}
	for b.Loop() {
		if !g.Authorize(id, auth.OpRead, auth.ResTopic, "metrics") {
			b.Fatal("denied")
		}
	}
}
