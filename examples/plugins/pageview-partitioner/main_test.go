package main

import "testing"

func TestFieldValue(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"user_id":"alice","page":"/"}`, "alice"},
		{` { "page" : {"user_id":"nested"} , "user_id" : "bob" } `, "bob"},
		{`{"a":[1,{"b":"}"}],"user_id":42}`, "42"},
		{`{"user_id":"caf\u00e9"}`, "café"},
		{`{"user_id":null}`, ""},
		{`{"page":"/"}`, ""},
		{`not json`, ""},
		{`["user_id","x"]`, ""},
	} {
		if got := fieldValue([]byte(tc.in), "user_id"); string(got) != tc.want {
			t.Errorf("fieldValue(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
