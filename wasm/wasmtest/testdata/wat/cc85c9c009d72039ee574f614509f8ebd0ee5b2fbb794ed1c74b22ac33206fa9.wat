(module
  (memory (export "memory") 1)
  (global $a (mut i32) (i32.const 1))
  (global $b i64 (i64.const 2))
  (func (export "sluice_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "sluice_partition") (param i32 i32) (result i64)
    (loop $spin
      (global.set $a (i32.add (global.get $a) (i32.const 1)))
      (br_if $spin (i32.ne (global.get $a) (i32.const 0))))
    (i64.const 0))
  (export "counter" (global $a)))