"""The test suite: a package, so that its modules have unique names and import its helpers
(``tests.synthetic_study``) by their full names, whichever folder or file pytest is given."""
