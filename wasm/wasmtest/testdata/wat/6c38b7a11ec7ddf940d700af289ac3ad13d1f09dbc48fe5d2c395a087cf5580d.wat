(module
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 0))
  (func (export "f") (global.set $g (i32.const 1))))