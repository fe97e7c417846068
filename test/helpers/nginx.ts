/** The nginx launcher lives with the remote bench, which serves its model with it too. */
export { NGINX, Nginx } from '../../bench/nginx.js';
