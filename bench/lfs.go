package main

import "fmt"

// benchLFS is a placeholder until its issue lands.
func benchLFS(b *Bench) error {
	fmt.Println("not built yet")
	return nil
}
