(module
  (memory (export "memory") 1)
  (func $r (param $n i32)
    (if (local.get $n)
      (then
        (call $r (i32.sub (local.get $n) (i32.const 1)))
        (call $r (i32.sub (local.get $n) (i32.const 1))))))
  (func (export "sluice_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "sluice_partition") (param $ptr i32) (param i32) (result i64)
    ;; the first key byte of the first record picks: 'l' loop, else recurse
    (if (i32.eq (i32.load8_u offset=24 (i32.add (local.get $ptr) (i32.const 33))) (i32.const 0x6c))
      (then (loop $spin (br $spin))))
    (call $r (i32.const 60))
    (i64.const 0)))