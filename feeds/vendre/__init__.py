"""Reading a Vendre shop's admin API (`/API/1`)."""
