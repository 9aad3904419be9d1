"""Every storage concern, written once in SQL that both databases run (see ``tx``)."""
