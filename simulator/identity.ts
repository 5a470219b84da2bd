// Who exists in the simulated Keystone: one domain, three users in two projects, two roles, and the built-in
// application credential. Fixed, so clouds.yaml files and Tempest's pre-provisioned accounts can name them; users
// create further application credentials through the API (kept in the state).

export const DOMAIN = { id: 'default', name: 'Default' };

export interface Role {
  id: string;
  name: 'member' | 'reader';
}

export const ROLES: Record<Role['name'], Role> = {
  member: { id: 'c2a9f3e1d4b54a7f9e8d7c6b5a4f3e2d', name: 'member' },
  reader: { id: '5b7d0e3a9c1f4e2d8a6b4c2e0f1d3a5b', name: 'reader' },
};

export interface Project {
  id: string;
  name: string;
}

export const PROJECTS = {
  nodepool: { id: '4e1c7a2b9d3f4a6e8b5c0d1f2a3b4c5d', name: 'nodepool' },
  demo: { id: '9d2e4f6a8b0c4d1e3f5a7b9c1d3e5f70', name: 'demo' },
} satisfies Record<string, Project>;

export interface User {
  id: string;
  name: string;
  password: string;
  /** The project the user has a role on, and which one. */
  project: Project;
  role: Role['name'];
}

/** nodepool's own account, a second user in a second project, and a read-only user in that second project. */
export const USERS: User[] = [
  {
    id: '8a3f0c9d2b7e4f51a6c3d2e1f0b9a871',
    name: 'nodepool',
    password: 'secret',
    project: PROJECTS.nodepool,
    role: 'member',
  },
  {
    id: '3c5e7a9b1d2f4a6c8e0b2d4f6a8c0e1d',
    name: 'demo',
    password: 'demo-secret',
    project: PROJECTS.demo,
    role: 'member',
  },
  {
    id: 'e7f9a1b3c5d74e2f8a0c2e4a6b8d0f2a',
    name: 'demo-reader',
    password: 'reader-secret',
    project: PROJECTS.demo,
    role: 'reader',
  },
];

export const USER = USERS[0]!;

/** The application credential every simulator has: user nodepool's, on project nodepool. */
export const APP_CRED = {
  id: 'nodepool-appcred',
  name: 'nodepool-appcred',
  secret: 'appcred-secret',
  userId: USER.id,
  projectId: PROJECTS.nodepool.id,
};

/** A key pair user nodepool has from the start, so configs naming key-name: nodepool boot on a fresh simulator. */
export const BUILTIN_KEYPAIR = {
  name: 'nodepool',
  userId: USER.id,
  publicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFvwUfmSfNQ+PrHUWLbAnbM08iP65j8DHPPKs4f1oMtY nodepool-simulator',
};

export function userById(id: string): User | undefined {
  return USERS.find((u) => u.id === id);
}

export function projectById(id: string): Project | undefined {
  return Object.values(PROJECTS).find((p) => p.id === id);
}

/** The roles a user holds on a project, implied roles included (member implies reader, as in Keystone). */
export function rolesOn(user: User, projectId: string): Role[] {
  if (user.project.id !== projectId) return [];
  return user.role === 'member' ? [ROLES.member, ROLES.reader] : [ROLES.reader];
}

/**
 * Tempest's pre-provisioned accounts: the primary (demo, a member), the project reader (demo-reader, same project)
 * and the alt account (nodepool, another project). The primary is not nodepool because Tempest counts the
 * application credentials its primary user owns, and nodepool owns the built-in one.
 */
export const TEMPEST_ACCOUNTS = ['demo', 'nodepool', 'demo-reader'].map((name) => {
  const u = USERS.find((x) => x.name === name)!;
  return { username: u.name, password: u.password, project_name: u.project.name, roles: [u.role] };
});
