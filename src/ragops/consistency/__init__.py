"""Consistency of the two stores: the database's chunk rows and the vector store's points."""
