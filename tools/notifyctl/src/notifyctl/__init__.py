"""notifyctl: the operator CLI of the notification fleet."""
