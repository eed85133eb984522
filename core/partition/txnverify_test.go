package partition

import (
	"errors"
	"testing"
)

// TestTxnVerificationGuard: the append side of KIP-890 part 1. A
// transactional batch of a producer with no open transaction needs a
// pending verification's guard; a marker between verification and append
// voids it (the race Kafka's VerificationGuard closes); an open
// transaction needs none; nil (verification off) appends as before.
func TestTxnVerificationGuard(t *testing.T) {
	p := openReplica(t, 0)
	p.BecomeLeader(1, []int32{0}, []int32{0})
	const pid = 7

	// No guard at all: refused, nothing appended.
	zero := TxnGuard{ProducerID: pid}
	if _, err := p.AppendGuarded(txnRecords(t, pid, 0, 0, "x"), nil, &zero); !errors.Is(err, ErrTxnNotVerified) {
		t.Fatalf("unverified append: %v", err)
	}
	if n := p.log.NextOffset(); n != 0 {
		t.Fatalf("log end %d after a refused append", n)
	}

	// Verified, then appended: the transaction opens and the token goes.
	g, needed := p.StartTxnVerification(pid, 0)
	if !needed {
		t.Fatal("verification not needed without an open transaction")
	}
	if g2, _ := p.StartTxnVerification(pid, 0); g2 != g {
		t.Fatalf("concurrent verification got another token: %+v vs %+v", g2, g)
	}
	if _, err := p.AppendGuarded(txnRecords(t, pid, 0, 0, "a"), nil, &g); err != nil {
		t.Fatal(err)
	}
	if n := p.PendingTxnVerifications(); n != 0 {
		t.Fatalf("%d pending verifications once the transaction opened", n)
	}
	// Open: no verification, the zero guard appends.
	g3, needed := p.StartTxnVerification(pid, 0)
	if needed {
		t.Fatal("verification needed with the transaction open")
	}
	if _, err := p.AppendGuarded(txnRecords(t, pid, 0, 1, "b"), nil, &g3); err != nil {
		t.Fatal(err)
	}

	// The hanging-transaction race: the first batch is verified while
	// its transaction is ongoing at the coordinator, then the
	// transaction ends before the append. Its marker writes nothing here
	// (no transaction open on this partition), yet it voids the token:
	// the delayed batch must not open a transaction no marker will close.
	mustMarker(t, p, pid, 0, true)
	g4, needed := p.StartTxnVerification(pid, 0)
	if !needed {
		t.Fatal("verification not needed after the commit")
	}
	end := p.log.NextOffset()
	mustMarker(t, p, pid, 0, false) // no open transaction: writes nothing
	if n := p.log.NextOffset(); n != end {
		t.Fatalf("no-op marker wrote: log end %d, want %d", n, end)
	}
	if _, err := p.AppendGuarded(txnRecords(t, pid, 0, 2, "late"), nil, &g4); !errors.Is(err, ErrTxnNotVerified) {
		t.Fatalf("append after the transaction ended: %v", err)
	}
	if p.PendingTxnVerifications() != 0 {
		t.Fatal("token left after the marker")
	}

	// A written marker between verification and append voids the token.
	g5, _ := p.StartTxnVerification(pid, 0)
	mustAppend(t, p, txnRecords(t, pid, 0, 2, "other")) // opens, no guard
	mustMarker(t, p, pid, 0, false)
	end = p.log.NextOffset()
	if _, err := p.AppendGuarded(txnRecords(t, pid, 0, 3, "late"), nil, &g5); !errors.Is(err, ErrTxnNotVerified) {
		t.Fatalf("append after a marker overtook the verification: %v", err)
	}
	if n := p.log.NextOffset(); n != end {
		t.Fatalf("log end %d, want %d", n, end)
	}
	if lso, hw := p.LastStableOffset(), p.HighWatermark(); lso != hw {
		t.Fatalf("LSO %d, HW %d", lso, hw)
	}

	// A refused verification forgets its token.
	g6, _ := p.StartTxnVerification(pid, 0)
	p.EndTxnVerification(g6)
	if n := p.PendingTxnVerifications(); n != 0 {
		t.Fatalf("%d pending verifications after EndTxnVerification", n)
	}
	// Verification off (nil guard): appended as before.
	if _, err := p.AppendGuarded(txnRecords(t, pid, 0, 3, "off"), nil, nil); err != nil {
		t.Fatal(err)
	}
}
