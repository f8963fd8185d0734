//! The sample application of the demo and the end-to-end tests: a small `podinfo` Deployment and
//! Service, written for this project.

/// The files of the sample repository.
pub fn podinfo_files(message: &str) -> Vec<(String, String)> {
    vec![
        (
            "apps/podinfo/deployment.yaml".into(),
            format!(
                "apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  labels:
    app.kubernetes.io/name: podinfo
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: podinfo
  template:
    metadata:
      labels:
        app.kubernetes.io/name: podinfo
    spec:
      containers:
      - name: podinfo
        image: ghcr.io/stefanprodan/podinfo:6.9.2
        ports:
        - name: http
          containerPort: 9898
        env:
        - name: PODINFO_UI_MESSAGE
          value: \"{message}\"
        resources:
          requests:
            cpu: 10m
            memory: 32Mi
"
            ),
        ),
        (
            "apps/podinfo/service.yaml".into(),
            "apiVersion: v1
kind: Service
metadata:
  name: podinfo
spec:
  selector:
    app.kubernetes.io/name: podinfo
  ports:
  - name: http
    port: 9898
    targetPort: http
"
            .into(),
        ),
        (
            "apps/podinfo/kustomization.yaml".into(),
            "apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- deployment.yaml
- service.yaml
"
            .into(),
        ),
        (
            "kustomization.yaml".into(),
            "apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- apps/podinfo
"
            .into(),
        ),
    ]
}
