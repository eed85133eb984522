(module
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 0))
  (export "sluice_interrupt" (global $g)))