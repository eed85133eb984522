package kafka

import (
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestControlledShutdownV0Header: version 0 of ControlledShutdown is
// Kafka's one request whose header has no client id; it parses, and v1
// (with one) still does.
func TestControlledShutdownV0Header(t *testing.T) {
	frame := binary.BigEndian.AppendUint16(nil, 7)   // key
	frame = binary.BigEndian.AppendUint16(frame, 0)  // version
	frame = binary.BigEndian.AppendUint32(frame, 42) // correlation id
	frame = binary.BigEndian.AppendUint32(frame, 3)  // BrokerID, no client id before it
	h, req, err := parseRequest(frame)
	if err != nil {
		t.Fatal(err)
	}
	cs, ok := req.(*kmsg.ControlledShutdownRequest)
	if !ok || h.correlationID != 42 || h.clientID != "" || cs.BrokerID != 3 {
		t.Fatalf("v0: header %+v, request %+v", h, req)
	}

	v1 := kmsg.NewPtrControlledShutdownRequest()
	v1.Version, v1.BrokerID = 1, 5
	frame = binary.BigEndian.AppendUint16(nil, 7)
	frame = binary.BigEndian.AppendUint16(frame, 1)
	frame = binary.BigEndian.AppendUint32(frame, 43)
	frame = binary.BigEndian.AppendUint16(frame, 2)
	frame = append(frame, "cl"...)
	frame = v1.AppendTo(frame)
	h, req, err = parseRequest(frame)
	if err != nil {
		t.Fatal(err)
	}
	if cs, ok := req.(*kmsg.ControlledShutdownRequest); !ok || h.clientID != "cl" || cs.BrokerID != 5 {
		t.Fatalf("v1: header %+v, request %+v", h, req)
	}
}
