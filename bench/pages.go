package main

import "fmt"

// benchPages is a placeholder until its issue lands.
func benchPages(b *Bench) error {
	fmt.Println("not built yet")
	return nil
}
