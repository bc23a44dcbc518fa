"""The assistant conversation: messages, the snapshot a reply is written from, and storing a reply's effects."""
