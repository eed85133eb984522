package kafka

import (
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// kmsg allocates every array at the length a request claims (checked only
// against the bytes left, at one byte per element) and loops over claimed
// tag counts: a 20 MB request can make it allocate gigabytes or spin for
// minutes. So before kmsg sees a request body, boundRequest walks it with
// the request's layout (reqschema.txt): every array and tag count must
// fit in the bytes left at the element's smallest wire size, every length
// must fit, and the memory the decoded request would take (estimated per
// element) must stay within a budget.

//go:embed reqschema.txt
var reqSchemaText string

// DefaultMaxDecodedRequestBytes is the default budget for one request's
// decoded form (Config.MaxDecodedRequestBytes).
const DefaultMaxDecodedRequestBytes = 64 << 20

// errRequestTooLarge: a request's decoded form would exceed the budget.
var errRequestTooLarge = errors.New("request would decode past the memory budget")

type fieldKind uint8

const (
	kInt8 fieldKind = iota
	kInt16
	kInt32
	kInt64
	kUUID
	kString
	kBytes
	kArray  // of struct elements (children)
	kStruct // inline struct (children)
)

// reqField is one field of a request layout.
type reqField struct {
	name     string
	kind     fieldKind
	elem     fieldKind // for arrays of a primitive: its kind; kStruct otherwise
	from, to int16
	tagged   bool
	children []reqField
}

func (f *reqField) active(v int16) bool { return v >= f.from && v <= f.to }

// reqLayout is one API's request layout.
type reqLayout struct {
	flexFrom int16 // first flexible version; -1: never
	fields   []reqField
}

var reqLayouts = mustParseLayouts(reqSchemaText)

func mustParseLayouts(text string) map[int16]*reqLayout {
	out := map[int16]*reqLayout{}
	var cur *reqLayout
	// stack[i] is where fields of indent i+1 go.
	var stack []*[]reqField
	for n, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fail := func(why string) { panic(fmt.Sprintf("kafka: reqschema.txt line %d: %s: %q", n+1, why, line)) }
		parts := strings.Fields(line)
		if parts[0] == "api" {
			key, err := strconv.Atoi(parts[1])
			if err != nil || len(parts) != 4 {
				fail("bad api line")
			}
			cur = &reqLayout{flexFrom: -1}
			if parts[2] != "-" {
				f, err := strconv.Atoi(parts[2])
				if err != nil {
					fail("bad flexible version")
				}
				cur.flexFrom = int16(f)
			}
			out[int16(key)] = cur
			stack = []*[]reqField{&cur.fields}
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if cur == nil || indent < 1 || indent > len(stack) || len(parts) < 4 {
			fail("bad field line")
		}
		stack = stack[:indent]
		typ := strings.TrimSuffix(parts[1], "?")
		f := reqField{name: parts[0], elem: kStruct, tagged: len(parts) == 5 && parts[4] == "tag"}
		from, err1 := strconv.Atoi(parts[2])
		to, err2 := strconv.Atoi(parts[3])
		if err1 != nil || err2 != nil {
			fail("bad versions")
		}
		f.from, f.to = int16(from), int16(to)
		prim := func(t string) fieldKind {
			switch t {
			case "i8":
				return kInt8
			case "i16":
				return kInt16
			case "i32":
				return kInt32
			case "i64", "f64":
				return kInt64
			case "uuid":
				return kUUID
			case "str":
				return kString
			case "bytes":
				return kBytes
			case "struct":
				return kStruct
			case "arr":
				return kArray
			}
			fail("unknown type " + t)
			return 0
		}
		if elem, ok := strings.CutPrefix(typ, "arr:"); ok {
			f.kind, f.elem = kArray, prim(elem)
		} else {
			f.kind = prim(typ)
		}
		list := stack[indent-1]
		*list = append(*list, f)
		if f.kind == kArray && f.elem == kStruct || f.kind == kStruct {
			last := &(*list)[len(*list)-1]
			stack = append(stack, &last.children)
		}
	}
	return out
}

// Memory estimates of decoded elements (kmsg structs on a 64-bit heap):
// a generous upper bound per field, per primitive array element and per
// unknown tag (a map entry).
const (
	memPerField    = 24
	memPerPrimElem = 16
	memPerTag      = 64
)

// boundRequest walks body (a request body after its header) for API key
// at version v and returns the estimated bytes its decoded form takes. It
// fails if the body is malformed in a way that would make kmsg allocate
// for data that is not there, and with errRequestTooLarge past budget.
// APIs without a layout are not checked.
func boundRequest(key, v int16, body []byte, budget int64) (int64, error) {
	l, ok := reqLayouts[key]
	if !ok {
		return 0, nil
	}
	w := walker{b: body, v: v, flex: l.flexFrom >= 0 && v >= l.flexFrom}
	w.structure(l.fields)
	if w.err != nil {
		return w.mem, w.err
	}
	if w.mem > budget {
		return w.mem, fmt.Errorf("%w: about %d bytes, budget %d", errRequestTooLarge, w.mem, budget)
	}
	return w.mem, nil
}

type walker struct {
	b    []byte
	v    int16
	flex bool
	mem  int64
	err  error
}

func (w *walker) fail(format string, args ...any) {
	if w.err == nil {
		w.err = fmt.Errorf("%w: "+format, append([]any{errMalformed}, args...)...)
	}
	w.b = nil
}

func (w *walker) skip(n int64, what string) {
	if n < 0 || n > int64(len(w.b)) {
		w.fail("%s of %d bytes overruns the request", what, n)
		return
	}
	w.b = w.b[n:]
}

func (w *walker) uvarint() int64 {
	v, n := binary.Uvarint(w.b)
	if n <= 0 || v > 1<<32 {
		w.fail("bad varint")
		return 0
	}
	w.b = w.b[n:]
	return int64(v)
}

func (w *walker) int16() int64 {
	if len(w.b) < 2 {
		w.fail("truncated")
		return 0
	}
	v := int16(binary.BigEndian.Uint16(w.b))
	w.b = w.b[2:]
	return int64(v)
}

func (w *walker) int32() int64 {
	if len(w.b) < 4 {
		w.fail("truncated")
		return 0
	}
	v := int32(binary.BigEndian.Uint32(w.b))
	w.b = w.b[4:]
	return int64(v)
}

// length reads a string/bytes length or array count: compact (n+1, 0 =
// null) in flexible versions, else int16 for strings, int32 otherwise.
// Null is -1.
func (w *walker) length(kind fieldKind) int64 {
	switch {
	case w.flex:
		return w.uvarint() - 1
	case kind == kString:
		return w.int16()
	default:
		return w.int32()
	}
}

// minWire is the fewest bytes one value of the field kind takes.
func (w *walker) minWire(kind fieldKind, children []reqField) int64 {
	switch kind {
	case kInt8:
		return 1
	case kInt16:
		return 2
	case kInt32:
		return 4
	case kInt64:
		return 8
	case kUUID:
		return 16
	case kString:
		if w.flex {
			return 1
		}
		return 2
	case kBytes, kArray:
		if w.flex {
			return 1
		}
		return 4
	}
	var n int64
	for i := range children {
		f := &children[i]
		if f.active(w.v) && !f.tagged {
			n += w.minWire(f.kind, f.children)
		}
	}
	if w.flex {
		n++ // tag count
	}
	return max(n, 1)
}

// structure walks fields and, in flexible versions, the tag section.
func (w *walker) structure(fields []reqField) {
	for i := range fields {
		f := &fields[i]
		if !f.active(w.v) || f.tagged {
			continue // tagged fields live in the tag section
		}
		w.mem += memPerField
		w.value(f.kind, f.elem, f.children)
		if w.err != nil {
			return
		}
	}
	if w.flex {
		w.tags()
	}
}

func (w *walker) value(kind, elem fieldKind, children []reqField) {
	switch kind {
	case kInt8:
		w.skip(1, "int8")
	case kInt16:
		w.skip(2, "int16")
	case kInt32:
		w.skip(4, "int32")
	case kInt64:
		w.skip(8, "int64")
	case kUUID:
		w.skip(16, "uuid")
	case kString, kBytes:
		if n := w.length(kind); n > 0 {
			if kind == kString {
				w.mem += n // copied; bytes alias the frame
			}
			w.skip(n, "string or bytes")
		}
	case kStruct:
		w.structure(children)
	case kArray:
		n := w.length(kArray)
		if n <= 0 || w.err != nil {
			return
		}
		if min := w.minWire(elem, children); n > int64(len(w.b))/min {
			w.fail("array claims %d elements of at least %d bytes, %d bytes left", n, min, len(w.b))
			return
		}
		if elem == kStruct {
			w.mem += n * memPerField // the element's own slot
		} else {
			w.mem += n * memPerPrimElem
		}
		for range n {
			w.value(elem, kStruct, children)
			if w.err != nil {
				return
			}
		}
	}
}

// tags walks a tag section: a count, then (tag, size, bytes) each.
func (w *walker) tags() {
	n := w.uvarint()
	if w.err != nil {
		return
	}
	if n > int64(len(w.b))/2 {
		w.fail("tag section claims %d tags, %d bytes left", n, len(w.b))
		return
	}
	w.mem += n * memPerTag
	for range n {
		w.uvarint()
		w.skip(w.uvarint(), "tag")
		if w.err != nil {
			return
		}
	}
}
