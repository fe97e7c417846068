/** s3:// objects: not yet implemented (issue 9, part 4). */
import { WeightsealError } from '../errors.js';
import type { RemoteContext } from './object.js';
import type { RangedObject } from './object.js';

export const S3Object = {
  open(_u: URL, ctx: RemoteContext, owned: boolean): Promise<RangedObject> {
    if (owned) void ctx.close();
    return Promise.reject(new WeightsealError('ERR_INVALID_ARG', 's3:// sources are not supported yet'));
  },
};
