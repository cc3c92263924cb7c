package main

import "fmt"

// benchRender is a placeholder until its issue lands.
func benchRender(b *Bench) error {
	fmt.Println("not built yet")
	return nil
}
