apiVersion: v1
kind: Secret
metadata:
  name: tpl
stringData:
  password: hunter2
