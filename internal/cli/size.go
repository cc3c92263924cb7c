package cli

// Bytes declares a flag holding a size in bytes (see the Bytes type),
// with its default value.
func (f *Flags) Bytes(name string, value int64, usage string) *int64 {
	b := Bytes(value)
	f.Var(&b, name, usage)
	return (*int64)(&b)
}
