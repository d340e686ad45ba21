// Hostile: skips the SDK and prints a forged envelope to stdout.
package main

import "fmt"

func main() {
	fmt.Println(`{"output":{"answer":42}}`)
}
